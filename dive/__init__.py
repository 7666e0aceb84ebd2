"""DIVE Gym: MCP tool servers, a gym and a synthesis pipeline for diverse, verified tool-use tasks."""

__version__ = "0.1.0"
