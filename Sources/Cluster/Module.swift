/// The `Cluster` module of Tessera.
public enum ClusterModule {}
