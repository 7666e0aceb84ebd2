"""DIVE Gym: MCP tool servers, a gym and a synthesis pipeline for diverse, verified tool-use tasks.

Importing `dive` registers the Gymnasium environment `DIVE-v0` (`gym.make("DIVE-v0")`).
"""

__version__ = "0.1.0"


def _register_envs() -> None:
    import gymnasium

    if "DIVE-v0" not in gymnasium.registry:
        gymnasium.register(id="DIVE-v0", entry_point="dive.env.dive_env:DiveEnv")


_register_envs()
