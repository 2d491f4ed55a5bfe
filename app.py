#!/usr/bin/env python3
"""CDK entry point (`cdk synth`, `cdk deploy`): one environment-agnostic stack, `Tocsin`.

Synthesis makes no AWS or git calls; cdk-nag's AwsSolutions checks run on every synth.
"""

from infra.stack import create_app

if __name__ == "__main__":
    create_app().synth()
