"""Search methods: flip-graph local search (``search.flipgraph``), network-guided
sampled MCTS (``search.mcts``) and Hensel lifting of mod-p results (``search.lifting``)."""
