"""cnnlab_client: submit, watch and list cnnlab runs from a script. Needs only httpx.

    python -m cnnlab_client submit run run.json --watch     # a POST /api/runs body, or just a config
    python -m cnnlab_client submit sweep sweep.json         # a POST /api/sweeps body
    python -m cnnlab_client watch 7                         # the seed's epoch lines, live; exit 0 if it succeeded
    python -m cnnlab_client list --status running --owner ada --limit 20
    python -m cnnlab_client show 7                          # the run's JSON
    python -m cnnlab_client cancel 7
    python -m cnnlab_client --url http://lab:8000 me        # who the token belongs to

The server is ``--url``, else $CNNLAB_URL, else ``url`` in the config file, else
http://127.0.0.1:8000. The token is $CNNLAB_TOKEN, else ``token`` in the config file, sent as
``Authorization: Bearer <token>``; without one, requests go without (local mode needs none).
The config file is ~/.config/cnnlab/client.toml ($CNNLAB_CLIENT_CONFIG overrides the path)::

    url = "http://lab:8000"
    token = "..."

Keep it private (chmod 600): the client warns when a file holding a token is readable by others.
"""

from cnnlab_client.api import ApiError, Client
from cnnlab_client.settings import Settings, load_settings

__all__ = ["ApiError", "Client", "Settings", "load_settings"]
__version__ = "0.1.0"
