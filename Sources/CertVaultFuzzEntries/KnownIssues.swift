public import Foundation

/// Defects the fuzzers found that are not fixed yet, in code owned elsewhere.
///
/// The fuzz targets skip inputs that would hit one of these (narrowly: only the shape that
/// triggers it), so that one known crash does not end every CI run before the next defect is
/// found. Each has a reproducer under Tests/Fuzz/known-issues/<target>/ and a disabled replay
/// test in Tests/CertVaultFuzzReplayTests. Fixing one: delete its case here, move the reproducer
/// to Tests/Fuzz/corpus/<target>/ and delete the disabled test.
public enum KnownIssues {
    /// The vault targets' known defects (see each check).
    @Sendable public static func vault(_ data: Data) -> String? {
        for line in data.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false) {
            let fields = line.split(separator: UInt8(ascii: "\t"), maxSplits: 3, omittingEmptySubsequences: false)
            // AuditLog.verify computes `sequence + 1`, `sequence - 1` and `last - 1` unchecked:
            // a record or head whose sequence is at the edge of Int traps (AuditLog.swift:156,
            // 165, 168). The first field of a record or head; in a backup, after the bundle's bytes.
            if let sequence = trailingInteger(fields[0]), sequence >= Int.max - 2 || sequence <= Int.min + 2 {
                return "audit sequence at the edge of Int (AuditLog.verify overflows)"
            }
        }
        return nil
    }

    /// The integer at the end of `bytes` (digits with an optional sign), as Swift's `Int(_:)`
    /// would read the field it ends; nil when there is none or it does not fit.
    static func trailingInteger(_ bytes: Data.SubSequence) -> Int? {
        var start = bytes.endIndex
        while start > bytes.startIndex, let byte = Optional(bytes[start - 1]), byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9") {
            start -= 1
        }
        guard start < bytes.endIndex else { return nil }
        if start > bytes.startIndex, bytes[start - 1] == UInt8(ascii: "-") || bytes[start - 1] == UInt8(ascii: "+") { start -= 1 }
        return Int(String(decoding: bytes[start...], as: UTF8.self))
    }
}
