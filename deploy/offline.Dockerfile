# The last step of the offline build of agentd's image (deploy/build.py): no registry, no network.
# BASE is a debootstrapped Debian bookworm (python3, python3-venv, git, ca-certificates) imported
# into the local engine; the context holds agentd's wheel and the wheels of
# requirements/runtime.lock, downloaded on the host beforehand. Online, deploy/Dockerfile is used.
ARG BASE=agentd-base:latest
FROM ${BASE} AS base

FROM base AS venv
LABEL agentd.build.stage=venv
COPY runtime.lock install-agentd.sh /src/
COPY wheels /tmp/wheels
RUN sh /src/install-agentd.sh /tmp/wheels /src/runtime.lock

# ---- the image itself: these lines are the same in deploy/Dockerfile (a test checks it)
FROM base
ARG AGENTD_IMAGE_VERSION=dev
COPY --from=venv /opt/agentd/venv /opt/agentd/venv
# The same user entries on both bases (no dependency on the passwd package).
RUN echo 'agentd:x:10002:10002:agentd:/var/lib/agentd:/usr/sbin/nologin' >> /etc/passwd \
 && echo 'agentd:x:10002:' >> /etc/group \
 && mkdir -p /var/lib/agentd /etc/agentd \
 && chown 10002:10002 /var/lib/agentd
ENV PATH=/opt/agentd/venv/bin:/usr/local/bin:/usr/bin:/bin LANG=C.UTF-8 HOME=/var/lib/agentd \
    AGENTD_CONFIG=/etc/agentd/agentd.toml
USER 10002:10002
WORKDIR /var/lib/agentd
LABEL agentd.image.version=$AGENTD_IMAGE_VERSION
ENTRYPOINT ["agentd"]
CMD ["run"]
