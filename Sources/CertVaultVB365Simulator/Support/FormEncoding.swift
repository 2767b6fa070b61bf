/// Percent-decoding of request targets and `application/x-www-form-urlencoded` bodies.
enum FormEncoding {
    /// Form and query decoding: `+` is a space, `%XX` a byte.
    static func percentDecode(_ text: some StringProtocol) -> String {
        var bytes: [UInt8] = []
        var utf8 = Array(text.utf8)[...]
        while let byte = utf8.popFirst() {
            if byte == UInt8(ascii: "+") {
                bytes.append(UInt8(ascii: " "))
            } else if byte == UInt8(ascii: "%"), utf8.count >= 2,
                let value = UInt8(String(decoding: utf8.prefix(2), as: UTF8.self), radix: 16) {
                bytes.append(value)
                utf8 = utf8.dropFirst(2)
            } else {
                bytes.append(byte)
            }
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    /// `name=value&...`, decoded; the last value of a name wins.
    static func parse(_ text: some StringProtocol) -> [String: String] {
        var fields: [String: String] = [:]
        for pair in text.split(separator: "&") {
            let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            fields[percentDecode(parts[0])] = parts.count == 2 ? percentDecode(parts[1]) : ""
        }
        return fields
    }

    static func parse(_ body: [UInt8]) -> [String: String] {
        parse(String(decoding: body, as: UTF8.self))
    }
}

/// The request target as the simulator records and routes it: the path percent-decoded, the
/// query as decoded name-value pairs.
struct RequestTarget: Sendable {
    let path: String
    let query: [String: String]

    init(_ target: String) {
        let parts = target.split(separator: "?", maxSplits: 1, omittingEmptySubsequences: false)
        path = FormEncoding.percentDecode(parts.first ?? "/")
        query = parts.count == 2 ? FormEncoding.parse(parts[1]) : [:]
    }

    /// The path's segments, empty ones left out.
    var segments: [String] { path.split(separator: "/").map(String.init) }

    /// The path with the query sorted by name, as recorded.
    var recorded: String {
        guard !query.isEmpty else { return path }
        return path + "?" + query.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: "&")
    }
}
