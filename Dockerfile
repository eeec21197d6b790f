# peaktrade-daemon image: the daemon as PID 1 on the embedded default (replay feed, SQLite state).
#
# Build:  docker build -t peaktrade-daemon:0.1.0 .
# Run:    docker run -d --name peaktrade \
#           -v peaktrade-config:/srv/peaktrade/config -v peaktrade-state:/srv/peaktrade/state \
#           -v peaktrade-logs:/srv/peaktrade/logs -v peaktrade-reports:/srv/peaktrade/reports \
#           peaktrade-daemon:0.1.0
# Other commands run in the same image and root, e.g.
#         docker exec peaktrade peaktrade-daemon proposals list
#         docker run --rm -v peaktrade-config:/srv/peaktrade/config peaktrade-daemon:0.1.0 config check
# Stop:   docker stop -t 45 peaktrade   (SIGTERM: running workflows drain for up to 30 s, then
#                                        exit 0; docker's default -t 10 would SIGKILL the drain)
# Reload: docker kill --signal=HUP peaktrade   (re-reads every config file, reopens log files)
# Alerts: docker exec peaktrade tail -F logs/autonomous_alerts.log   (-F: across rotations)

# Pinned by version; bump deliberately together with the constraints.
FROM python:3.11.7-slim-bookworm

# MALLOC_ARENA_MAX: as in the systemd unit (two glibc malloc arenas; about 1.5 MiB less RSS).
# PEAKTRADE_LOG_STDERR_LEVEL: `docker logs` shows the daemon's INFO lines too (on a terminal
# stderr gets WARNING and up; logs/daemon.log always has INFO).
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PEAKTRADE_ROOT=/srv/peaktrade \
    PEAKTRADE_LOG_STDERR_LEVEL=INFO \
    MALLOC_ARENA_MAX=2

# A dedicated unprivileged user; fixed ids so volume ownership is stable across rebuilds.
RUN groupadd --system --gid 10001 peaktrade \
 && useradd --system --uid 10001 --gid peaktrade --home-dir /srv/peaktrade \
        --no-create-home --shell /usr/sbin/nologin peaktrade

# Install: every dependency pinned through constraints.txt; the build backend pinned here and used
# without build isolation so no unpinned setuptools is fetched behind our back. Then bytecode at
# levels 0 and 2 for the standard library and every installed package (site-packages lies below
# it): the daemon runs under -OO, and PYTHONDONTWRITEBYTECODE keeps Python from writing any at
# run time.
WORKDIR /opt/peaktrade
COPY pyproject.toml constraints.txt README.md ./
COPY peaktrade_daemon ./peaktrade_daemon
RUN pip install setuptools==75.8.0 wheel==0.45.1 \
 && pip install --no-build-isolation --constraint constraints.txt . \
 && python -m compileall -q -j 0 -o 0 -o 2 -x '/(test|tests|idle_test)/' /usr/local/lib/python3.11 \
 && python -OO -P -m peaktrade_daemon --help >/dev/null \
 && peaktrade-daemon --version

# The root: shipped config and the bundled real samples; state, logs and reports start empty.
WORKDIR /srv/peaktrade
COPY --chown=peaktrade:peaktrade config ./config
COPY --chown=peaktrade:peaktrade data ./data
RUN mkdir -p state logs reports config/auto config/live_overrides \
 && chown -R peaktrade:peaktrade /srv/peaktrade

# No logrotate in a container: the daemon rotates daemon.log and the alert log itself at 50 MiB,
# keeping 5 renamed copies of each (at most 300 MiB per log). Old report folders are pruned by
# [state.retention] report_days. The image installs the replay default without the ccxt extra.
ENV PEAKTRADE_LOGS__MAX_BYTES=52428800 \
    PEAKTRADE_LOGS__BACKUPS=5
VOLUME ["/srv/peaktrade/config", "/srv/peaktrade/state", "/srv/peaktrade/logs", "/srv/peaktrade/reports"]

USER peaktrade:peaktrade

# The daemon is PID 1 and handles SIGTERM itself (graceful drain, exit 0): exec form, no shell
# in between that would swallow the signal. It reaps its own workflow subprocesses; add
# `docker run --init` only if external workflow commands leave orphaned grandchildren behind.
STOPSIGNAL SIGTERM
HEALTHCHECK --interval=30s --timeout=10s --start-period=60s --retries=3 \
    CMD ["peaktrade-daemon", "health"]
# -OO: no docstrings and no asserts in memory (about 6 MiB less RSS; the daemon never relies on
# either), from the level-2 bytecode compiled above. -P: the working directory stays off sys.path.
ENTRYPOINT ["python", "-OO", "-P", "-m", "peaktrade_daemon"]
CMD ["--continuous"]
