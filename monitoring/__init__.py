"""Batch monitoring of ML models in production: pure Python, no Airflow import, usable and testable alone."""

__version__ = "0.1.0"
