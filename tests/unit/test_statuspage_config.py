"""`status_pages` in the configuration: every mistake is reported with its file and line."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml
from tocsin.config_loader import load_config
from tocsin.domain.errors import ConfigError

from tests.helpers import REPO


def config_with(tmp_path: Path, change: object) -> Path:
    target = tmp_path / "config"
    shutil.copytree(REPO / "config", target)
    data = yaml.safe_load((target / "statuspage.yaml").read_text())
    change(data["status_pages"])  # type: ignore[operator]
    (target / "statuspage.yaml").write_text(yaml.safe_dump(data, sort_keys=False))
    return target


def problems(config: Path) -> str:
    with pytest.raises(ConfigError) as err:
        load_config(config)
    return "\n".join(err.value.problems)


def test_the_shipped_status_pages() -> None:
    config = load_config(REPO / "config")
    pages = config.status_pages
    public = pages.page("public")
    assert public is not None and public.visibility == "public"
    assert [c.name for c in pages.components_of(public)] == ["Checkout", "Payments API", "Search"]
    internal = pages.page("internal")
    assert internal is not None
    assert "Admin console" in [c.name for c in pages.components_of(internal)]
    ids = [c.component_id for c in pages.components]
    assert len(set(ids)) == len(ids) and all(len(i) == 12 and i.isalnum() for i in ids)


def test_a_public_page_cannot_show_a_private_component(tmp_path: Path) -> None:
    def change(sp: dict) -> None:
        sp["pages"][0]["components"] = ["Checkout", "Admin console"]

    found = problems(config_with(tmp_path, change))
    assert "statuspage.yaml:" in found
    assert "status_pages.pages.0.components.1: 'Admin console' is a private component" in found


def test_unknown_names_are_reported_where_they_are_used(tmp_path: Path) -> None:
    def change(sp: dict) -> None:
        sp["pages"][1]["components"].append("Warp drive")
        sp["pages"].append({"id": "public", "name": "Again"})
        sp["impact"]["SEV9"] = "major"
        sp["templates"]["identified"]["SEV7"] = "x"

    found = problems(config_with(tmp_path, change))
    assert "status_pages.pages.1.components.4: unknown component 'Warp drive'" in found
    assert "status_pages.pages.2.id: status page id 'public' repeated" in found
    assert "only one status page can be public" in found
    assert "status_pages.impact.SEV9: unknown severity 'SEV9'" in found
    assert "status_pages.templates.identified.SEV7: unknown severity" in found


def test_services_and_workflows_name_known_components_and_pages(tmp_path: Path) -> None:
    target = config_with(tmp_path, lambda sp: None)
    services = yaml.safe_load((target / "services.yaml").read_text())
    services["services"][0]["components"].append("Chekout")
    (target / "services.yaml").write_text(yaml.safe_dump(services, sort_keys=False))
    flows = yaml.safe_load((target / "workflows.yaml").read_text())
    flows["workflows"][0]["actions"].append({"update_status_page": {"pages": ["publik"]}})
    (target / "workflows.yaml").write_text(yaml.safe_dump(flows, sort_keys=False))
    found = problems(target)
    assert "services.0.components.2: unknown status page component 'Chekout'" in found
    assert "update_status_page.pages.0: unknown status page 'publik'" in found


def test_a_private_page_lists_its_components(tmp_path: Path) -> None:
    def change(sp: dict) -> None:
        del sp["pages"][1]["components"]

    assert "status_pages.pages.1: a private page lists its `components`" in problems(
        config_with(tmp_path, change)
    )


def test_a_template_with_an_unknown_placeholder(tmp_path: Path) -> None:
    def change(sp: dict) -> None:
        sp["templates"]["monitoring"]["default"] = "{nope}"

    found = problems(config_with(tmp_path, change))
    assert "status_pages.templates: " in found
    assert "template monitoring.default: unknown or malformed placeholder 'nope'" in found


def test_a_page_url_ends_in_its_path_and_names_are_templates(tmp_path: Path) -> None:
    def change(sp: dict) -> None:
        sp["pages"][0]["url"] = "https://status.example.com"
        sp["pages"][1]["incident_name"] = "{nope}"

    found = problems(config_with(tmp_path, change))
    assert "url must end in /status/public" in found
    assert "incident_name: unknown or malformed placeholder 'nope'" in found
