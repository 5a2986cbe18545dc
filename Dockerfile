# The Airflow image with this project's pinned requirements and its monitoring library installed.
FROM apache/airflow:3.3.2-python3.11

COPY --chown=airflow:root requirements.txt constraints.txt pyproject.toml /opt/monitoring/
COPY --chown=airflow:root monitoring /opt/monitoring/monitoring
COPY --chown=airflow:root monitoring_airflow /opt/monitoring/monitoring_airflow
COPY --chown=airflow:root demo /opt/monitoring/demo
COPY --chown=airflow:root reports_templates /opt/monitoring/reports_templates
# Editable, so the library finds reports_templates/ beside it, as in a checkout.
RUN pip install --no-cache-dir -r /opt/monitoring/requirements.txt -c /opt/monitoring/constraints.txt \
 && pip install --no-cache-dir --no-deps -e /opt/monitoring
