"""Adapters are built from the configuration and credentials in Secrets Manager."""

from __future__ import annotations

import json
from typing import Any

import boto3
import pytest
from tocsin.domain.response import IntegrationConfig, Integrations
from tocsin.integrations.ports import PermanentIntegrationError
from tocsin.integrations.registry import AdapterFactory, SecretStore


def factory(ttl: float = 300.0, **ports: IntegrationConfig) -> AdapterFactory:
    return AdapterFactory(Integrations(**ports), "unused-table", SecretStore(ttl=ttl))


def slack(secret: str = "tocsin/slack") -> IntegrationConfig:
    return IntegrationConfig(provider="slack", secret=secret)


def test_without_configuration_every_port_is_local(aws: Any) -> None:
    built = factory()
    assert {port: built.get(port).provider for port in ("chat", "conferencing", "ticketing")} == {
        "chat": "local",
        "conferencing": "local",
        "ticketing": "local",
    }


def test_an_adapter_is_built_from_its_secret_and_rebuilt_when_it_rotates(aws: Any) -> None:
    sm = boto3.client("secretsmanager", region_name="us-east-1")
    sm.create_secret(Name="tocsin/slack", SecretString=json.dumps({"bot_token": "xoxb-1"}))
    built = factory(ttl=0, chat=slack())
    first = built.get("chat")
    assert first.provider == "slack" and built.get("chat") is first  # same secret: reused
    sm.put_secret_value(SecretId="tocsin/slack", SecretString=json.dumps({"bot_token": "xoxb-2"}))
    assert built.get("chat") is not first


@pytest.mark.parametrize(
    ("secret_string", "message"),
    [
        (None, "secret 'tocsin/slack': ResourceNotFoundException"),
        ("not json", "is not a JSON object"),
        ('["a"]', "is not a JSON object"),
        ('{"other": "x"}', "secret 'tocsin/slack' lacks bot_token"),
    ],
)
def test_bad_secrets_are_permanent_errors_that_never_show_values(
    aws: Any, secret_string: str | None, message: str
) -> None:
    if secret_string is not None:
        boto3.client("secretsmanager", region_name="us-east-1").create_secret(
            Name="tocsin/slack", SecretString=secret_string
        )
    with pytest.raises(PermanentIntegrationError) as err:
        factory(chat=slack()).get("chat")
    assert message in str(err.value)
    assert "xoxb" not in str(err.value) and "other" not in str(err.value)
