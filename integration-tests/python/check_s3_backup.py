"""Reads a backup location in an S3-compatible store with boto3, the way an operator checking
a bucket would: lists every object under the prefix (path-style, SigV4 with the given keys),
downloads each one, and reports what it found.

Usage: check_s3_backup.py ENDPOINT_URL BUCKET PREFIX ACCESS_KEY SECRET_KEY OUT_DIR
Each object is saved under OUT_DIR by its name relative to PREFIX. Prints one JSON object:
{"objects": {NAME: {"size": listed size, "downloaded": bytes read, "sha256": hex,
 "etag": the listed ETag}}, "manifest": the parsed manifest.json, or null when there is none}.
"""

import hashlib
import json
import os
import sys

import boto3
from botocore.config import Config


def main() -> None:
    endpoint, bucket, prefix, access_key, secret_key, out_dir = sys.argv[1:7]
    s3 = boto3.client(
        "s3",
        endpoint_url=endpoint,
        aws_access_key_id=access_key,
        aws_secret_access_key=secret_key,
        region_name="us-east-1",
        config=Config(signature_version="s3v4", s3={"addressing_style": "path"}),
    )
    prefix = prefix.strip("/") + "/"

    objects = {}
    manifest = None
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        for item in page.get("Contents", []):
            name = item["Key"][len(prefix):]
            data = s3.get_object(Bucket=bucket, Key=item["Key"])["Body"].read()
            objects[name] = {
                "size": item["Size"],
                "downloaded": len(data),
                "sha256": hashlib.sha256(data).hexdigest(),
                "etag": item["ETag"],
            }
            path = os.path.join(out_dir, name)
            os.makedirs(os.path.dirname(path), exist_ok=True)
            with open(path, "wb") as f:
                f.write(data)
            if name == "manifest.json":
                manifest = json.loads(data)

    print(json.dumps({"objects": objects, "manifest": manifest}))


if __name__ == "__main__":
    main()
