"""tests/kds_client.py — the boto3 Kinesis client the records_efo*.py
tests share: framelogd's endpoint, no retries (a defect must not hide
behind one), and a read timeout longer than a subscription's quiet spells."""
import boto3
import botocore.config


def client(url):
    return boto3.client(
        "kinesis",
        endpoint_url=url,
        region_name="us-east-1",
        aws_access_key_id="AKIDEXAMPLE",
        aws_secret_access_key="secret",
        config=botocore.config.Config(retries={"max_attempts": 0}, read_timeout=120),
    )
