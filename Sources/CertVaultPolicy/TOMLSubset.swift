internal import CertVaultCore

/// A value in a policy file.
package enum TOMLValue: Hashable, Sendable {
    case string(String)
    case integer(Int)
    case boolean(Bool)
    case array([TOMLValue])

    package var typeName: String {
        switch self {
        case .string: "a string"
        case .integer: "an integer"
        case .boolean: "a boolean"
        case .array: "an array"
        }
    }
}

/// One `key = value` line of a policy file, with where it stood.
package struct TOMLEntry: Hashable, Sendable {
    package let key: String
    package let value: TOMLValue
    package let line: Int
}

/// One `[table]` of a policy file: its entries in file order.
package struct TOMLTable: Hashable, Sendable {
    package let name: String
    package let line: Int
    package var entries: [TOMLEntry] = []
}

/// A parse failure with the line it happened on.
package struct TOMLSyntaxError: Error {
    package let line: Int
    package let message: String
}

/// A parser for the subset of TOML 1.0 that policy, access-policy and configuration files use: comments, `[table]` headers with
/// bare or dotted names, bare keys, basic and literal strings, decimal integers, booleans and
/// arrays (which may span lines). Anything else (floats, dates, inline tables, multi-line
/// strings, dotted keys) is refused with the line number, never guessed at.
///
/// A hand-written parser instead of a TOML package: policy files are small, and every error a
/// user sees needs a line number, including the semantic ones found after parsing.
package struct TOMLSubsetParser {
    private let bytes: [UInt8]
    private var index = 0
    private var line = 1

    package init(_ text: String) { bytes = Array(text.utf8) }

    /// Parses the whole text. Keys before the first header belong to the table named "".
    package mutating func parse() throws(TOMLSyntaxError) -> [TOMLTable] {
        var tables = [TOMLTable(name: "", line: 1)]
        var seenTables: Set<String> = [""]
        var seenKeys: Set<String> = []
        while true {
            skipWhitespaceCommentsAndNewlines()
            guard let byte = peek() else { break }
            if byte == UInt8(ascii: "[") {
                index += 1
                if peek() == UInt8(ascii: "[") {
                    throw fail("arrays of tables ('[[...]]') are not supported in policy files")
                }
                skipSpaces()
                let name = try parseTableName()
                skipSpaces()
                guard peek() == UInt8(ascii: "]") else { throw fail("expected ']' to close the table header") }
                index += 1
                try expectEndOfLine()
                guard seenTables.insert(name).inserted else { throw fail("table [\(name)] appears twice") }
                tables.append(TOMLTable(name: name, line: line))
                continue
            }
            let keyLine = line
            let key = try parseBareKey()
            skipSpaces()
            if peek() == UInt8(ascii: ".") { throw fail("dotted keys are not supported; use a [table] header") }
            guard peek() == UInt8(ascii: "=") else { throw fail("expected '=' after key '\(key)'") }
            index += 1
            skipSpaces()
            let value = try parseValue()
            try expectEndOfLine()
            let qualified = tables[tables.count - 1].name + "\u{0}" + key
            guard seenKeys.insert(qualified).inserted else {
                throw TOMLSyntaxError(line: keyLine, message: "key '\(key)' is set twice in the same table")
            }
            tables[tables.count - 1].entries.append(TOMLEntry(key: key, value: value, line: keyLine))
        }
        return tables
    }

    private func peek() -> UInt8? { index < bytes.count ? bytes[index] : nil }

    private func fail(_ message: String) -> TOMLSyntaxError { TOMLSyntaxError(line: line, message: message) }

    private mutating func skipSpaces() {
        while let byte = peek(), byte == UInt8(ascii: " ") || byte == UInt8(ascii: "\t") { index += 1 }
    }

    private mutating func skipComment() {
        if peek() == UInt8(ascii: "#") {
            while let byte = peek(), byte != UInt8(ascii: "\n") { index += 1 }
        }
    }

    private mutating func skipWhitespaceCommentsAndNewlines() {
        while true {
            skipSpaces()
            skipComment()
            if peek() == UInt8(ascii: "\r") { index += 1 }
            if peek() == UInt8(ascii: "\n") {
                index += 1
                line += 1
                continue
            }
            return
        }
    }

    private mutating func expectEndOfLine() throws(TOMLSyntaxError) {
        skipSpaces()
        skipComment()
        if peek() == UInt8(ascii: "\r") { index += 1 }
        guard let byte = peek() else { return }
        guard byte == UInt8(ascii: "\n") else { throw fail("unexpected text after the value; one 'key = value' per line") }
    }

    private static func isBareKeyByte(_ byte: UInt8) -> Bool {
        (byte >= UInt8(ascii: "a") && byte <= UInt8(ascii: "z")) || (byte >= UInt8(ascii: "A") && byte <= UInt8(ascii: "Z"))
            || (byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9")) || byte == UInt8(ascii: "_") || byte == UInt8(ascii: "-")
    }

    private mutating func parseBareKey() throws(TOMLSyntaxError) -> String {
        let start = index
        while let byte = peek(), Self.isBareKeyByte(byte) { index += 1 }
        guard index > start else {
            if peek() == UInt8(ascii: "\"") || peek() == UInt8(ascii: "'") {
                throw fail("quoted keys are not supported; use letters, digits, '_' and '-'")
            }
            throw fail("expected a key (letters, digits, '_' and '-') or a [table] header")
        }
        return String(decoding: bytes[start..<index], as: UTF8.self)
    }

    private mutating func parseTableName() throws(TOMLSyntaxError) -> String {
        var parts = [try parseBareKey()]
        while peek() == UInt8(ascii: ".") {
            index += 1
            parts.append(try parseBareKey())
        }
        return parts.joined(separator: ".")
    }

    private mutating func parseValue() throws(TOMLSyntaxError) -> TOMLValue {
        guard let byte = peek(), byte != UInt8(ascii: "\n"), byte != UInt8(ascii: "#") else {
            throw fail("missing value after '='")
        }
        switch byte {
        case UInt8(ascii: "\""):
            if bytes[index...].starts(with: Array("\"\"\"".utf8)) { throw fail("multi-line strings are not supported") }
            return .string(try plainText(try parseBasicString()))
        case UInt8(ascii: "'"):
            if bytes[index...].starts(with: Array("'''".utf8)) { throw fail("multi-line strings are not supported") }
            return .string(try plainText(try parseLiteralString()))
        case UInt8(ascii: "["):
            return try parseArray()
        case UInt8(ascii: "{"):
            throw fail("inline tables are not supported; use a [table] header")
        default:
            let start = index
            while let next = peek(), next != UInt8(ascii: ","), next != UInt8(ascii: "]"), next != UInt8(ascii: "#"),
                next != UInt8(ascii: "\n"), next != UInt8(ascii: "\r"), next != UInt8(ascii: " "), next != UInt8(ascii: "\t")
            {
                index += 1
            }
            let word = String(decoding: bytes[start..<index], as: UTF8.self)
            if word == "true" { return .boolean(true) }
            if word == "false" { return .boolean(false) }
            return .integer(try parseInteger(word))
        }
    }

    private func parseInteger(_ word: String) throws(TOMLSyntaxError) -> Int {
        var digits = Substring(word)
        var negative = false
        if digits.first == "+" || digits.first == "-" {
            negative = digits.first == "-"
            digits = digits.dropFirst()
        }
        let valid = !digits.isEmpty && digits.first != "_" && digits.last != "_" && !digits.contains("__")
            && digits.allSatisfy { $0.isASCII && ($0.isNumber || $0 == "_") }
            && !(digits.count > 1 && digits.first == "0")
        guard valid, let magnitude = Int(digits.replacing("_", with: "")) else {
            if word.contains(".") || word.lowercased().contains("e") || word.contains(":") {
                throw fail("'\(word)' is not supported: policy values are strings, whole numbers, booleans or arrays")
            }
            throw fail("'\(word)' is not a valid value; strings need quotes, e.g. \"\(word)\"")
        }
        return negative ? -magnitude : magnitude
    }

    /// Policy strings end up in certificates and on terminals: no control characters (raw or
    /// escaped, tab and line breaks included), no bidi overrides or line separators.
    private func plainText(_ text: String) throws(TOMLSyntaxError) -> String {
        guard let scalar = text.unicodeScalars.first(where: DisplayText.needsEscape) else { return text }
        let shown = DisplayText.escapingControls(String(scalar))
        throw fail("control characters are not allowed in policy strings (found \(shown))")
    }

    private mutating func parseBasicString() throws(TOMLSyntaxError) -> String {
        index += 1  // opening quote
        var scalars = String.UnicodeScalarView()
        var run = index
        func flush(_ end: Int) { scalars.append(contentsOf: String(decoding: bytes[run..<end], as: UTF8.self).unicodeScalars) }
        while true {
            guard let byte = peek(), byte != UInt8(ascii: "\n") else { throw fail("string is not closed on this line") }
            if byte == UInt8(ascii: "\"") {
                flush(index)
                index += 1
                return String(scalars)
            }
            if byte < 0x20 && byte != UInt8(ascii: "\t") || byte == 0x7F {
                throw fail("control characters are not allowed in strings; use an escape such as \\t")
            }
            if byte == UInt8(ascii: "\\") {
                flush(index)
                index += 1
                guard let escape = peek() else { throw fail("string is not closed") }
                index += 1
                switch escape {
                case UInt8(ascii: "\""): scalars.append("\"")
                case UInt8(ascii: "\\"): scalars.append("\\")
                case UInt8(ascii: "n"): scalars.append("\n")
                case UInt8(ascii: "t"): scalars.append("\t")
                case UInt8(ascii: "r"): scalars.append("\r")
                case UInt8(ascii: "u"), UInt8(ascii: "U"):
                    let width = escape == UInt8(ascii: "u") ? 4 : 8
                    let digits = index + width <= bytes.count ? Array(bytes[index..<index + width]) : []
                    guard digits.count == width, digits.allSatisfy({ Character(Unicode.Scalar($0)).isHexDigit }),
                        let value = UInt32(String(decoding: digits, as: UTF8.self), radix: 16),
                        let scalar = Unicode.Scalar(value)
                    else { throw fail("invalid \\u escape in string") }
                    if scalar.properties.generalCategory == .control {
                        throw fail("control characters are not allowed in policy strings")
                    }
                    scalars.append(scalar)
                    index += width
                default:
                    throw fail("unknown escape '\\\(Character(Unicode.Scalar(escape)))' in string")
                }
                run = index
                continue
            }
            index += 1
        }
    }

    private mutating func parseLiteralString() throws(TOMLSyntaxError) -> String {
        index += 1
        let start = index
        while let byte = peek(), byte != UInt8(ascii: "'") {
            if byte == UInt8(ascii: "\n") { throw fail("string is not closed on this line") }
            index += 1
        }
        guard peek() == UInt8(ascii: "'") else { throw fail("string is not closed") }
        let text = String(decoding: bytes[start..<index], as: UTF8.self)
        index += 1
        return text
    }

    private mutating func parseArray() throws(TOMLSyntaxError) -> TOMLValue {
        index += 1
        var values: [TOMLValue] = []
        while true {
            skipWhitespaceCommentsAndNewlines()
            guard let byte = peek() else { throw fail("array is not closed with ']'") }
            if byte == UInt8(ascii: "]") {
                index += 1
                return .array(values)
            }
            if peek() == UInt8(ascii: "[") { throw fail("nested arrays are not supported in policy files") }
            values.append(try parseValue())
            skipWhitespaceCommentsAndNewlines()
            if peek() == UInt8(ascii: ",") {
                index += 1
            } else if peek() != UInt8(ascii: "]") {
                throw fail("expected ',' or ']' in array")
            }
        }
    }
}
