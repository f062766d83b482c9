FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml README.md ./
COPY b24app b24app
COPY handlers handlers
COPY robots robots
COPY installers installers
COPY contrib contrib
COPY deploy deploy
COPY wsgi.py ./
RUN pip install --no-cache-dir . && useradd --system blago24
USER blago24
ENV B24APP_BIND=0.0.0.0:5000
CMD ["gunicorn", "-c", "deploy/gunicorn.conf.py", "wsgi:app"]
