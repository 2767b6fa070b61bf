import Foundation
public import Hummingbird

/// A request body a route accepts: JSON whose top-level keys are all in ``fields``.
public protocol StrictJSONBody: Decodable, Sendable {
    /// Every key the body may have; any other key is refused with 400 `unknown-field`.
    static var fields: Set<String> { get }
}

/// Reads request bodies strictly: `application/json` only (415), no more than the configured
/// cap (413), well-formed JSON (400 `invalid-json`), an object with only known keys (400
/// `unknown-field`), values of the right types (400 `invalid-body`). Nothing is written before a
/// body has passed all of these.
enum JSONBody {
    /// Decodes the body as `T`; an absent body (no bytes at all) decodes as `{}` when `emptyIsObject`.
    static func decode<T: StrictJSONBody>(
        _ type: T.Type, from request: Request, context: CertVaultRequestContext,
        emptyIsObject: Bool = false
    ) async throws -> T {
        let buffer = try await request.body.collect(upTo: context.maxUploadSize)
        var bytes = [UInt8](buffer: buffer)
        if bytes.isEmpty && emptyIsObject && request.headers[.contentType] == nil {
            bytes = Array("{}".utf8)
        } else {
            try requireJSONContentType(request)
        }
        let object: Any
        do {
            object = try JSONSerialization.jsonObject(with: Data(bytes), options: [])
        } catch {
            throw Problem(
                .badRequest, code: "invalid-json", detail: "The request body is not well-formed JSON.",
                hint: "Send one JSON object; see the route's schema in /openapi.json.")
        }
        guard let dictionary = object as? [String: Any] else {
            throw Problem(
                .badRequest, code: "invalid-body", detail: "The request body must be a JSON object.",
                hint: "Send one JSON object; see the route's schema in /openapi.json.")
        }
        if let unknown = dictionary.keys.sorted().first(where: { !T.fields.contains($0) }) {
            throw Problem(
                .badRequest, code: "unknown-field", detail: "The request body has the unknown field \(Problem.quoted(unknown)).",
                hint: "Fields of this body: \(T.fields.sorted().joined(separator: ", ")).")
        }
        do {
            return try JSONDecoder().decode(T.self, from: Data(bytes))
        } catch let error as DecodingError {
            throw Problem(
                .badRequest, code: "invalid-body", detail: describe(error),
                hint: "Fields of this body: \(T.fields.sorted().joined(separator: ", ")); see /openapi.json for their types.")
        } catch let problem as Problem {
            throw problem
        } catch {
            throw Problem(
                .badRequest, code: "invalid-body", detail: "The request body does not match the route's schema.",
                hint: "See the route's schema in /openapi.json.")
        }
    }

    /// 415 unless the request says its body is JSON.
    static func requireJSONContentType(_ request: Request) throws {
        let type = request.headers[.contentType].map { $0.split(separator: ";").first.map(String.init) ?? $0 }
        guard type?.trimmingCharacters(in: .whitespaces).lowercased() == "application/json" else {
            throw Problem(
                .unsupportedMediaType, code: "unsupported-media-type",
                detail: "The request body must be application/json, not \(Problem.quoted(request.headers[.contentType] ?? "(none)")).",
                hint: "Send the body as JSON with 'Content-Type: application/json'.")
        }
    }

    private static func describe(_ error: DecodingError) -> String {
        func path(_ keys: [any CodingKey]) -> String {
            keys.isEmpty ? "the body" : "'" + keys.map { $0.intValue.map(String.init) ?? $0.stringValue }.joined(separator: ".") + "'"
        }
        switch error {
        case .typeMismatch(let type, let context):
            return "The field \(path(context.codingPath)) must be \(typeName(type))."
        case .valueNotFound(let type, let context):
            return "The field \(path(context.codingPath)) must be \(typeName(type)), not null."
        case .keyNotFound(let key, let context):
            return "The field \(path(context.codingPath + [key])) is required."
        case .dataCorrupted(let context):
            return "The field \(path(context.codingPath)) has a value that is not allowed."
        @unknown default:
            return "The request body does not match the route's schema."
        }
    }

    private static func typeName(_ type: Any.Type) -> String {
        switch type {
        case is String.Type: return "a string"
        case is Bool.Type: return "true or false"
        case is Int.Type: return "an integer"
        case is [String: String].Type: return "an object of strings"
        default: return "of another type"
        }
    }
}

/// Query parameters, checked: unknown names are refused, so a typo never silently widens a result.
struct Query {
    let items: [String: String]

    init(_ request: Request, allowed: Set<String>) throws {
        var items: [String: String] = [:]
        for (name, value) in request.uri.queryParameters {
            let name = String(name)
            guard allowed.contains(name) else {
                throw Problem.invalidQuery(
                    "Unknown query parameter \(Problem.quoted(name)).",
                    hint: allowed.isEmpty
                        ? "This route takes no query parameters."
                        : "This route takes: \(allowed.sorted().joined(separator: ", ")).")
            }
            guard items[name] == nil else {
                throw Problem.invalidQuery("The query parameter \(name) is given twice.", hint: "Give it once.")
            }
            items[name] = String(value)
        }
        self.items = items
    }

    subscript(_ name: String) -> String? { items[name] }

    /// An integer in `range`, or `default` when absent.
    func integer(_ name: String, in range: ClosedRange<Int>, default value: Int? = nil) throws -> Int? {
        guard let text = items[name] else { return value }
        guard let number = Int(text), range.contains(number) else {
            throw Problem.invalidQuery(
                "The query parameter \(name) must be an integer from \(range.lowerBound) to \(range.upperBound).",
                hint: "For example \(name)=\(range.lowerBound).")
        }
        return number
    }

    /// A duration such as `60d`, `12h`, `30m` or `90s` (or plain seconds), in seconds.
    func duration(_ name: String) throws -> Int64? {
        guard let text = items[name] else { return nil }
        let units: [Character: Int64] = ["d": 86_400, "h": 3_600, "m": 60, "s": 1]
        var digits = Substring(text)
        var unit: Int64 = 1
        if let last = text.last, let factor = units[last] {
            digits = text.dropLast()
            unit = factor
        }
        guard !digits.isEmpty, digits.count <= 6, digits.allSatisfy(\.isASCII), let number = Int64(digits), number >= 0 else {
            throw Problem.invalidQuery(
                "The query parameter \(name) must be a duration such as 60d, 12h, 30m or 90s.",
                hint: "For example \(name)=60d.")
        }
        return number * unit
    }
}
