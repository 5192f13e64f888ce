/// The `Models` module of Tessera.
public enum ModelsModule {}
