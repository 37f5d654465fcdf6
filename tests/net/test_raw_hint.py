"""The raw-socket hint recommends a safe way to get CAP_NET_RAW (issue 13)."""

from __future__ import annotations

from wskrecv.generator.raw import privilege_hint


def test_a_venv_with_its_own_interpreter_gets_the_capability(tmp_path) -> None:  # noqa: ANN001
    venv = tmp_path / "raw"
    (venv / "bin").mkdir(parents=True)
    exe = venv / "bin" / "python3"
    exe.write_bytes(b"")
    hint = privilege_hint(str(exe), str(venv), "/usr")
    assert f"sudo setcap cap_net_raw+ep {exe}" in hint and "sudo" in hint


def test_a_symlinked_venv_is_never_told_to_grant_the_system_interpreter(tmp_path) -> None:  # noqa: ANN001
    system = tmp_path / "usr" / "bin" / "python3.11"
    system.parent.mkdir(parents=True)
    system.write_bytes(b"")
    venv = tmp_path / "venv"
    (venv / "bin").mkdir(parents=True)
    (venv / "bin" / "python3").symlink_to(system)
    hint = privilege_hint(str(venv / "bin" / "python3"), str(venv), str(tmp_path / "usr"))
    # The symlink is resolved: the real file is the system's, so the hint is a new venv
    # with its own copy, and a warning naming the shared interpreter.
    assert f"setcap cap_net_raw+ep {system}" not in hint
    assert "python3 -m venv --copies" in hint and f"never grant it to {system}" in hint
