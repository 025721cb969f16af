"""What a learning trader is made of, below the model: the shared actor-critic, the rollout
buffer and GAE, PPO's update, checkpoints and the shipped policies.

Importing this package imports torch; the rest of the package imports it only when a market
has learning traders.
"""

from .checkpoint import CheckpointError, load_policy, save_checkpoint
from .network import ActorCritic, Architecture
from .policy import Policy
from .ppo import PPOSettings

__all__ = ["ActorCritic", "Architecture", "CheckpointError", "PPOSettings", "Policy",
           "load_policy", "save_checkpoint"]
