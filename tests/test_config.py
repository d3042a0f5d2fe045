"""agentd.toml: validation, defaults, environment overrides and the error messages users see."""

from __future__ import annotations

from pathlib import Path

import pytest

from agentd.config import load_config, parse_config
from agentd.kernel.errors import ConfigError

GOOD = """
[daemon]
state_dir = "/tmp/agentd-state"
[repository]
path = "/srv/repos/app"
watch_branches = ["main"]
test_command = ["go", "test", "./..."]
[models.default]
provider = "openai"
model = "gpt-4.1"
base_url = "http://127.0.0.1:8000/v1"
api_key_env = "OPENAI_API_KEY"
[models.claude]
provider = "anthropic"
model = "claude-sonnet-4-5"
api_key_env = "ANTHROPIC_API_KEY"
[roles]
critic = "claude"
[sandbox]
image = "agentd-sandbox-go:latest"
[store]
url = "sqlite:////tmp/agentd-state/agentd.db"
[target_database]
dsn_env = "APP_DATABASE_URL"
"""


def test_issue_example_config_parses() -> None:
    """The config of the foundation issue parses with every key meaning what it says."""
    config = parse_config(GOOD, env={})
    assert config.repository.path == Path("/srv/repos/app")
    assert config.chain_for("critic")[0] == "claude"
    assert config.chain_for("proposer") == ["default"]
    assert config.models["default"].base_url == "http://127.0.0.1:8000/v1"
    assert config.store_url == "sqlite:////tmp/agentd-state/agentd.db"
    assert config.secret_env_names() == {"OPENAI_API_KEY", "ANTHROPIC_API_KEY", "APP_DATABASE_URL"}


def test_store_url_defaults_to_state_dir() -> None:
    """Without [store] the SQLite file lives in the state directory."""
    config = parse_config(GOOD.replace('url = "sqlite:////tmp/agentd-state/agentd.db"', ""), env={})
    assert config.store_url == "sqlite:////tmp/agentd-state/agentd.db"


@pytest.mark.parametrize(
    ("mutation", "expected"),
    [
        (('watch_branches = ["main"]', 'watch_branches = "main"'), "repository.watch_branches = 'main'"),
        (('provider = "openai"', 'provider = "gemini"'), "models.default.provider = 'gemini'"),
        (('critic = "claude"', 'critic = "gpt5"'), "roles.critic = 'gpt5': no [models.gpt5]"),
        (('critic = "claude"', 'poet = "claude"'), "roles.poet: unknown role"),
        (('image = "agentd-sandbox-go:latest"', 'imgae = "x"'), "sandbox.imgae: unknown key"),
        (('path = "/srv/repos/app"', ""), "[repository]: set exactly one of repository.path"),
        (('path = "/srv/repos/app"', 'path = "/a"\nurl = "/b.git"'), "set exactly one of repository.path"),
        (("[models.default]", "[models.other]"), "define [models.default]"),
    ],
)
def test_errors_name_key_value_and_expectation(mutation: tuple[str, str], expected: str) -> None:
    """Each config mistake is reported with its key, its value and what was expected."""
    with pytest.raises(ConfigError) as caught:
        parse_config(GOOD.replace(*mutation), "agentd.toml", env={})
    assert expected in str(caught.value)
    assert str(caught.value).startswith("agentd.toml:")


def test_corrupt_toml_is_a_config_error() -> None:
    """A file that is not TOML gives a ConfigError naming the file, not a traceback."""
    with pytest.raises(ConfigError, match="not valid TOML"):
        parse_config("[daemon\nstate_dir = ", "broken.toml", env={})


def test_environment_overrides_the_file() -> None:
    """AGENTD_SECTION__KEY variables override file values, parsed as TOML literals."""
    env = {"AGENTD_DAEMON__STATE_DIR": "/var/tmp/other", "AGENTD_REPOSITORY__WATCH_BRANCHES": '["dev", "main"]'}
    config = parse_config(GOOD, env=env)
    assert config.daemon.state_dir == Path("/var/tmp/other")
    assert config.repository.watch_branches == ["dev", "main"]


def test_load_config_honours_agentd_config_and_relative_paths(tmp_path: Path) -> None:
    """$AGENTD_CONFIG picks the file, and a relative repository path is taken from the file's folder."""
    path = tmp_path / "conf" / "agentd.toml"
    path.parent.mkdir()
    path.write_text(GOOD.replace('path = "/srv/repos/app"', 'path = "../repo"'))
    config = load_config(None, env={"AGENTD_CONFIG": str(path)})
    assert config.repository.path == tmp_path / "repo"


def test_missing_file_says_how_to_create_one(tmp_path: Path) -> None:
    """A missing config file is a one-line error that names `agentd init`."""
    with pytest.raises(ConfigError, match="agentd init"):
        load_config(tmp_path / "nope.toml", env={})
