"""Reads a backup location in Google Cloud Storage with Google's own client, the way an operator
checking a bucket would: lists every object under the prefix, downloads each one (the client
checks the server's MD5/CRC32C as it downloads), and reports what it found.

Usage: check_gcs_backup.py EMULATOR_URL BUCKET PREFIX OUT_DIR
The client is anonymous and pointed at the emulator through STORAGE_EMULATOR_HOST. Each object
is saved under OUT_DIR by its name relative to PREFIX. Prints one JSON object:
{"objects": {NAME: {"size": listed size, "downloaded": bytes read, "sha256": hex}},
 "manifest": the parsed manifest.json, or null when there is none}.
"""

import hashlib
import json
import os
import sys

from google.auth.credentials import AnonymousCredentials
from google.cloud import storage


def main() -> None:
    endpoint, bucket_name, prefix, out_dir = sys.argv[1:5]
    os.environ["STORAGE_EMULATOR_HOST"] = endpoint
    client = storage.Client(project="lodestar-test", credentials=AnonymousCredentials())
    prefix = prefix.strip("/") + "/"

    objects = {}
    manifest = None
    for blob in client.list_blobs(bucket_name, prefix=prefix):
        name = blob.name[len(prefix):]
        data = blob.download_as_bytes()
        objects[name] = {
            "size": blob.size,
            "downloaded": len(data),
            "sha256": hashlib.sha256(data).hexdigest(),
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
