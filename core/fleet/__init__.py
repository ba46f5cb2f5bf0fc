"""Several nodes sharing one Redis: the node registry (who is alive, how loaded, where devices should go), the
pub/sub bus between nodes (typed, validated messages), and the device directory across nodes (one live session per
device in the whole fleet). `Fleet` puts them together for a node; a node without Redis has none of this."""
