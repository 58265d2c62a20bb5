"""The course's JupyterLab server settings: `make lab` puts etc/jupyter on JUPYTER_CONFIG_PATH.

jupytext's server extension (installed with the pinned `jupytext`) makes JupyterLab open and
save each lesson notebook together with its `.py` twin (paired by lessons/jupytext.toml).
The hook below saves those lesson sources without outputs, so what an author runs in
JupyterLab is never committed (a learner's own copies in workspace/ keep theirs).
"""

c = get_config()  # noqa: F821 - provided by traitlets when it loads this file

try:  # an install without the authoring tools (a learner's) has no lesson sources to guard
    from autograder.pairing import pre_save_hook
except ImportError:
    pass
else:
    c.ContentsManager.pre_save_hook = pre_save_hook
