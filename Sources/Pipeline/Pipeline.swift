/// Route and detect stages, offsets and commits, rebalances, transactions, dead letters.
public enum PipelineModule {}
