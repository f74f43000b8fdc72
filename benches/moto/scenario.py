"""The benchmark scenario on moto, in-process (moto's mock_aws with boto3).

One scenario: run an instance, create an image of it, terminate the instance, share the image
with another account, copy it to another Region, describe the copy. The same scenario runs on
ami-sim in benches/src/bin/sim_scenario.rs.

    .venv/bin/python benches/moto/scenario.py --scenarios 200 --min-seconds 1

Prints one JSON line: backend, scenarios, worlds, seconds, rate (scenarios per second).
Each world is a fresh mock_aws() holding `--scenarios` scenarios; worlds are repeated until
`--min-seconds` have passed, and only the scenario loop is timed (not moto's start-up).
"""

import argparse
import json
import os
import sys
import time

os.environ.setdefault("AWS_ACCESS_KEY_ID", "testing")
os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "testing")
os.environ.setdefault("AWS_SESSION_TOKEN", "testing")
os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")

import boto3  # noqa: E402
from moto import mock_aws  # noqa: E402

HOME, AWAY = "us-east-1", "eu-west-1"
CONSUMER = "222222222222"


def base_image(ec2):
    """An x86_64 Amazon image from moto's catalogue (the newest by name, for stability)."""
    images = ec2.describe_images(
        Owners=["amazon"],
        Filters=[{"Name": "architecture", "Values": ["x86_64"]}],
    )["Images"]
    if not images:
        sys.exit("moto has no Amazon x86_64 image in its catalogue")
    return sorted(images, key=lambda i: (i.get("Name", ""), i["ImageId"]))[-1]["ImageId"]


def scenario(home, away, base, i):
    inst = home.run_instances(
        ImageId=base, MinCount=1, MaxCount=1, InstanceType="m7i.large"
    )["Instances"][0]["InstanceId"]
    image = home.create_image(InstanceId=inst, Name=f"bench-{i}")["ImageId"]
    home.terminate_instances(InstanceIds=[inst])
    home.modify_image_attribute(
        ImageId=image, LaunchPermission={"Add": [{"UserId": CONSUMER}]}
    )
    copy = away.copy_image(
        SourceImageId=image, SourceRegion=HOME, Name=f"bench-{i}-copy"
    )["ImageId"]
    described = away.describe_images(ImageIds=[copy])["Images"]
    assert described and described[0]["ImageId"] == copy, described


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--scenarios", type=int, default=200, help="scenarios per world")
    p.add_argument("--min-seconds", type=float, default=1.0, help="repeat worlds at least this long")
    a = p.parse_args()
    if a.scenarios < 1:
        sys.exit("--scenarios must be at least 1")
    timed, worlds = 0.0, 0
    while worlds == 0 or timed < a.min_seconds:
        with mock_aws():
            home = boto3.client("ec2", region_name=HOME)
            away = boto3.client("ec2", region_name=AWAY)
            base = base_image(home)
            start = time.perf_counter()
            for i in range(a.scenarios):
                scenario(home, away, base, i)
            timed += time.perf_counter() - start
        worlds += 1
    total = a.scenarios * worlds
    print(json.dumps({
        "backend": "moto",
        "scenarios": total,
        "worlds": worlds,
        "seconds": round(timed, 6),
        "rate": total / timed,
    }))


if __name__ == "__main__":
    main()
