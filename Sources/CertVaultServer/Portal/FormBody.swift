import Foundation
import Hummingbird

/// An `application/x-www-form-urlencoded` body (what an HTML form posts), as name -> value; the
/// last value wins when a name repeats.
struct FormBody: Sendable {
    /// The largest form body the pages read (a form of ten extra fields is a few KiB).
    static let maximumBytes = 64 * 1024
    let values: [String: String]

    subscript(_ name: String) -> String? { values[name] }

    init(values: [String: String]) { self.values = values }

    /// Reads and parses the request's body.
    ///
    /// - Throws: `HTTPError(.contentTooLarge)` over ``maximumBytes``.
    static func read(_ request: Request) async throws -> FormBody {
        var request = request
        let buffer = try await request.collectBody(upTo: maximumBytes)
        return FormBody(parsing: String(decoding: buffer.readableBytesView, as: UTF8.self))
    }

    /// Parses `a=1&b=x+y`; a pair that does not decode is left out.
    init(parsing text: String) {
        var values: [String: String] = [:]
        for pair in text.split(separator: "&", omittingEmptySubsequences: true) {
            let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            func decode(_ part: Substring) -> String? {
                String(part).replacingOccurrences(of: "+", with: " ").removingPercentEncoding
            }
            guard let name = decode(parts[0]) else { continue }
            values[name] = parts.count > 1 ? decode(parts[1]) ?? "" : ""
        }
        self.values = values
    }
}
