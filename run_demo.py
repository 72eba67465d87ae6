"""Train a Townlet agent and watch it live: ``python run_demo.py --config configs/<level>.yaml``."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent / "src"))

from townlet.launch import launch

if __name__ == "__main__":
    launch()
