"""`[sandbox]`: the limits and settings of every sandbox container."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, field_validator

from sandbox.build import default_image
from sandbox.network import mode_refusal


class SandboxConfig(BaseModel):
    """The Docker sandbox every tool call and test run happens in."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    image: str = Field(
        default_factory=default_image,
        description="The sandbox image; default agentd-sandbox-go:<hash of its recipe> (`agentd sandbox build`).",
    )
    memory: str = Field("2g", description="Container memory limit (Docker syntax).")
    cpus: float = Field(1.0, gt=0)
    pids_limit: int = Field(256, ge=16)
    command_timeout_s: int = Field(300, ge=1, description="Default and maximum deadline of one command.")
    output_limit: int = Field(64_000, ge=1024, description="Bytes of stdout and of stderr kept per command.")
    user: str = Field("auto", description="'auto': uid 10001 when agentd is root, else agentd's own uid.")
    env_allowlist: list[str] = Field(
        default_factory=list,
        description="Names of agentd's environment variables copied into the sandbox; nothing else of it enters.",
    )
    tmp_size: str = Field("512m", description="Size of the /tmp tmpfs (Docker syntax; counts against memory).")
    home_size: str = Field("1g", description="Size of the /home/sandbox tmpfs holding the Go build cache.")
    max_open_files: int = Field(4096, ge=64, description="RLIMIT_NOFILE of every process in the sandbox.")
    max_processes: int = Field(
        4096,
        ge=64,
        description="RLIMIT_NPROC; counts the sandbox uid host-wide, pids_limit bounds one container.",
    )
    max_file_size: int = Field(
        1 << 30,
        ge=1 << 20,
        description="RLIMIT_FSIZE: the largest file a command may write, bytes.",
    )
    disk_limit: int = Field(
        4 << 30,
        ge=16 << 20,
        description="Bytes one lane may hold on host disk (its workspace; its Go build cache lives in its memory, "
        "sandbox.home_size); a lane over it is stopped and its job fails. Also caps RLIMIT_FSIZE.",
    )
    postgres_socket_dir: Path | None = Field(
        None,
        description=(
            "A host directory holding a PostgreSQL server's Unix socket, mounted read-only at /run/postgresql "
            "(libpq's default): the sandbox reaches that one server without any network."
        ),
    )
    start_timeout_s: float = Field(10.0, gt=0, description="How long a new sandbox's runner may take to connect.")
    network: str | None = Field(
        None,
        description="One Docker network a sandbox may join (to reach the target database); none by default. "
        "Refused: 'host', 'container:…', and any network on which a Docker engine's socket or proxy is reachable.",
    )

    @field_validator("network")
    @classmethod
    def _network_is_not_the_host(cls, name: str | None) -> str | None:
        if name is not None and (why := mode_refusal(name)):
            raise ValueError(f"refused: {why}; name an internal network for the target database, or none")
        return name
