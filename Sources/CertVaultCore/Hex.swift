/// Hex formatting for thumbprints, ids and MACs (Foundation's `String(format:)` is slow on Linux).
public enum Hex {
    /// Upper-case hex, as Entra ID and VB365 show thumbprints.
    public static func upper(_ bytes: some Sequence<UInt8>) -> String { encode(bytes, Array("0123456789ABCDEF".utf8)) }

    /// Lower-case hex.
    public static func lower(_ bytes: some Sequence<UInt8>) -> String { encode(bytes, Array("0123456789abcdef".utf8)) }

    private static func encode(_ bytes: some Sequence<UInt8>, _ digits: [UInt8]) -> String {
        var out = [UInt8]()
        out.reserveCapacity(bytes.underestimatedCount * 2)
        for byte in bytes {
            out.append(digits[Int(byte >> 4)])
            out.append(digits[Int(byte & 0x0F)])
        }
        return String(decoding: out, as: UTF8.self)
    }
}
