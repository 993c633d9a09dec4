"""The README documents every setting, and its example configuration is valid."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from pydantic import BaseModel

from monitor.config import channels as notify_settings
from monitor.config.settings import Settings, settings_from_document
from monitor.config.yamlfile import parse_yaml

README = Path(__file__).resolve().parents[1] / "README.md"


def readme_config() -> str:
    text = README.read_text(encoding="utf-8")
    blocks: list[str] = re.findall(r"```yaml\n(.*?)```", text, flags=re.S)
    assert blocks, "README.md has no yaml example"
    return max(blocks, key=len)


def field_names(model: type[BaseModel], seen: set[type[BaseModel]]) -> set[str]:
    if model in seen:
        return set()
    seen.add(model)
    names: set[str] = set()
    for name, field in model.model_fields.items():
        if name == "source":
            continue
        names.add(field.alias or name)
        for sub in _models_in(field.annotation):
            names |= field_names(sub, seen)
    return names


def _models_in(annotation: object) -> list[type[BaseModel]]:
    out: list[type[BaseModel]] = []
    stack = [annotation]
    while stack:
        a = stack.pop()
        if isinstance(a, type) and issubclass(a, BaseModel):
            out.append(a)
        stack.extend(getattr(a, "__args__", ()) or ())
        stack.extend(getattr(a, "__metadata__", ()) or ())
    return out


CHANNELS = [
    notify_settings.EmailChannelSettings,
    notify_settings.SlackChannelSettings,
    notify_settings.FileChannelSettings,
    notify_settings.AppriseChannelSettings,
    notify_settings.WebhookChannelSettings,
]


@pytest.mark.parametrize("model", [Settings, *CHANNELS, notify_settings.SubscriptionSettings])
def test_every_setting_is_documented(model: type[BaseModel]) -> None:
    documented = set(re.findall(r"^\s*-?\s*([A-Za-z_]+):", readme_config(), flags=re.M))
    missing = sorted(field_names(model, set()) - documented)
    assert not missing, f"settings missing from README.md's example: {missing}"


def test_readme_example_is_a_valid_config(tmp_path: Path) -> None:
    env = {
        "SMTP_PASSWORD": "x",
        "SLACK_WEBHOOK_URL": "https://hooks.slack.example/services/T/B/C",
        "TEAMS_APPRISE_URL": "json://127.0.0.1:1/",
        "HOOK_TOKEN": "t",
    }
    doc = parse_yaml(readme_config(), name="README.md", env=env)
    settings = settings_from_document(doc, source=tmp_path / "monitor.yaml")
    assert len(settings.feeds) == 3 and len(settings.channels) == 5
    assert {s.mode for s in settings.subscriptions} == {"digest", "alert"}
