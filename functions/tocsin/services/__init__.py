"""Use cases. They talk to repositories and ports, never to boto3 directly."""
