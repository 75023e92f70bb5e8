# One image for the user-code server, the Dagster webserver/daemon, run workers and the dashboards.
FROM python:3.11-slim
ENV PYTHONUNBUFFERED=1 UV_PROJECT_ENVIRONMENT=/opt/venv PATH=/opt/venv/bin:$PATH \
    DAGSTER_HOME=/opt/dagster/home EXNATON_HOME=/home/app/exnaton
RUN pip install --no-cache-dir uv==0.13.9 \
    && groupadd --system --gid 10001 app \
    && useradd --system --uid 10001 --gid app --create-home --home-dir /home/app app
WORKDIR /app
COPY pyproject.toml uv.lock README.md ./
RUN uv sync --frozen --no-dev --no-install-project
# .dockerignore keeps .env, deploy/secrets/, local state and git data out of this copy
COPY . .
RUN uv sync --frozen --no-dev \
    && mkdir -p $DAGSTER_HOME/storage $EXNATON_HOME \
    && cp dagster.yaml $DAGSTER_HOME/ \
    && chown -R app:app $DAGSTER_HOME $EXNATON_HOME
# A numeric user, so Kubernetes' runAsNonRoot can verify it. The code and the virtualenv stay
# owned by root: the processes can read them, not change them.
USER 10001:10001
ENTRYPOINT ["/app/deploy/entrypoint.sh"]
CMD ["dagster", "api", "grpc", "-h", "0.0.0.0", "-p", "4000", "-m", "exnaton_pipeline.definitions"]
