"""Deployment artifacts: files a user commits, each one checked by the real tool that consumes
it (Airflow, hadolint, kubernetes-validate, the Lambda runtime's event shapes).

One module per target; ``mlfactory export <target>`` (cli/) writes them. The scaffold
(``mlfactory init``) lives here too. Nothing below the cli imports this package.
"""
