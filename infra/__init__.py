"""Tocsin's AWS infrastructure: one CDK stack, composed from small constructs.

`bundling` builds the Lambda code asset without Docker; `stack` composes `storage`,
`functions`, `workflow`, `api` and `events`; `nag` wires cdk-nag and its acknowledgements.
"""
