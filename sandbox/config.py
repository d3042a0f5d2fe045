"""`[sandbox]`: the limits and settings of every sandbox container."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field


class SandboxConfig(BaseModel):
    """The Docker sandbox every tool call and test run happens in."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    image: str = "agentd-sandbox-go:latest"
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
    start_timeout_s: float = Field(10.0, gt=0, description="How long a new sandbox's runner may take to answer.")
    network: str | None = Field(
        None, description="One Docker network a sandbox may join (to reach the target database); none by default."
    )
    postgres_socket_dir: Path | None = Field(
        None,
        description=(
            "A host directory holding a PostgreSQL server's Unix socket, mounted read-only at /run/postgresql "
            "(libpq's default): the sandbox reaches that one server without any network."
        ),
    )
