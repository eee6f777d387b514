"""Settings from the environment: secrets (or their `*_FILE`s) and choices, failing loudly."""

from pathlib import Path

import pytest

from aftersale.lib.env import ConfigurationError, env_choice, env_secret


def test_a_secret_is_read_from_its_file_without_the_trailing_newline(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "password").write_text("s3cret with spaces \n")
    monkeypatch.delenv("AFTERSALE_SMTP_PASSWORD", raising=False)
    monkeypatch.setenv("AFTERSALE_SMTP_PASSWORD_FILE", str(tmp_path / "password"))
    assert env_secret("AFTERSALE_SMTP_PASSWORD") == "s3cret with spaces "


def test_a_secret_set_directly_or_not_at_all(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AFTERSALE_SMTP_PASSWORD_FILE", raising=False)
    monkeypatch.setenv("AFTERSALE_SMTP_PASSWORD", "direct")
    assert env_secret("AFTERSALE_SMTP_PASSWORD") == "direct"
    monkeypatch.delenv("AFTERSALE_SMTP_PASSWORD")
    assert env_secret("AFTERSALE_SMTP_PASSWORD", "fallback") == "fallback"


def test_a_secret_set_both_ways_is_refused_naming_both(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "key").write_text("from-file")
    monkeypatch.setenv("AFTERSALE_SECRET_KEY", "direct")
    monkeypatch.setenv("AFTERSALE_SECRET_KEY_FILE", str(tmp_path / "key"))
    with pytest.raises(
        ConfigurationError, match="AFTERSALE_SECRET_KEY and AFTERSALE_SECRET_KEY_FILE"
    ):
        env_secret("AFTERSALE_SECRET_KEY")


@pytest.mark.parametrize("content", [None, "", "\n", b"\xff\xfe"])
def test_a_missing_empty_or_undecodable_secret_file_is_refused_naming_the_variable(
    content: str | bytes | None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "webhook-secret"
    if isinstance(content, bytes):
        path.write_bytes(content)
    elif content is not None:
        path.write_text(content)
    monkeypatch.delenv("AFTERSALE_WEBHOOK_SECRET", raising=False)
    monkeypatch.setenv("AFTERSALE_WEBHOOK_SECRET_FILE", str(path))
    with pytest.raises(ConfigurationError, match=f"AFTERSALE_WEBHOOK_SECRET_FILE='{path}'"):
        env_secret("AFTERSALE_WEBHOOK_SECRET")


def test_a_choice_is_one_of_its_values_or_refused_naming_them(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("AFTERSALE_LOG_FORMAT", raising=False)
    assert env_choice("AFTERSALE_LOG_FORMAT", "text", choices=("text", "json")) == "text"
    monkeypatch.setenv("AFTERSALE_LOG_FORMAT", "json")
    assert env_choice("AFTERSALE_LOG_FORMAT", "text", choices=("text", "json")) == "json"
    monkeypatch.setenv("AFTERSALE_LOG_FORMAT", "xml")
    with pytest.raises(ConfigurationError, match="'xml' is not one of text, json"):
        env_choice("AFTERSALE_LOG_FORMAT", "text", choices=("text", "json"))
