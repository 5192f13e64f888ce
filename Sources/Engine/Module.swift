/// The `Engine` module of Tessera.
public enum EngineModule {}
