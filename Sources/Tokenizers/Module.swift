/// The `Tokenizers` module of Tessera.
public enum TokenizersModule {}
