# flyte-local compat: flyte.app served on this machine as upstream's examples/apps/local_*_app.py
# do it (a @app_env.server function, a command app), a task calling the app, deploy, parameters
import json
import socket
from http.server import BaseHTTPRequestHandler, HTTPServer
from urllib.request import urlopen

import flyte
import flyte.app
from flyte.app import AppEnvironment, Parameter, Scaling


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


PORT, STATIC_PORT = free_port(), free_port()

app_env = AppEnvironment(
    name="local-multiply",
    port=PORT,
    requires_auth=False,
    scaling=Scaling(replicas=(0, 2)),
    parameters=[Parameter(name="factor", value="3", env_var="MULTIPLY_FACTOR")],
)
static_env = AppEnvironment(
    name="static-files",
    command=f"python -m http.server {STATIC_PORT} --bind 127.0.0.1",
    port=STATIC_PORT,
)
task_env = flyte.TaskEnvironment(name="app_caller")


class MultiplyHandler(BaseHTTPRequestHandler):
    def do_GET(self):
        if self.path == "/health":
            body = {"status": "healthy"}
        else:
            x = int(self.path.split("x=")[1])
            body = {"result": x * int(flyte.app.get_parameter("factor"))}
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(json.dumps(body).encode())

    def log_message(self, format, *args):
        """Quiet."""


@app_env.server
def serve():
    HTTPServer(("127.0.0.1", PORT), MultiplyHandler).serve_forever()


@task_env.task
def call_app(x: int) -> int:
    with urlopen(f"{app_env.endpoint}/?x={x}") as response:
        return json.load(response)["result"]


if __name__ == "__main__":
    flyte.init_from_config()
    deployed = flyte.deploy(app_env)
    print("deployed", deployed[0].table_repr()[0][0][1], deployed[0].env)

    local_app = flyte.with_servecontext(mode="local", health_check_interval=0.05).serve(app_env)
    local_app.activate(wait=True)
    print(f"App is ready at {local_app.endpoint}")
    run = flyte.run(call_app, x=14)
    print(run.outputs())

    static = flyte.with_servecontext(
        mode="local", health_check_path="/", health_check_interval=0.05
    ).serve(static_env)
    with static.ephemeral_ctx_sync():
        with urlopen(f"{static.endpoint}/") as response:
            print("static status", response.status)
    print("static stopped", static.is_deactivated())
    local_app.deactivate()
