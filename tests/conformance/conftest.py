import sys
from pathlib import Path

# Worker processes (spawned) import corpus_runner by module name: keep this folder importable.
sys.path.insert(0, str(Path(__file__).resolve().parent))
