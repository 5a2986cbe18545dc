"""Demo data for the loan-approval model: training, reference baseline and daily prediction logs on S3."""
