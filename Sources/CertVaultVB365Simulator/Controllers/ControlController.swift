internal import Foundation
internal import Hummingbird

/// The control surface, `/_simulator/...`: the customer's sign-in, faults and delays, token and
/// code expiry, and what was received and stored. No authentication: loopback, tests and demos
/// only. The same operations exist as Swift methods on ``VB365Simulator``.
struct ControlController {
    let state: SimulatorState

    func addRoutes(to group: RouterGroup<SimulatorRequestContext>) {
        group.post("sign-in") { _, context in signIn(context) }
        group.post("faults") { _, context in faults(context) }
        group.post("expire-tokens") { _, _ in
            state.expireTokens()
            return Self.answer(200, .object(["ok": .bool(true)]))
        }
        group.post("expire-codes") { _, _ in
            state.expireDeviceCodes()
            return Self.answer(200, .object(["ok": .bool(true)]))
        }
        group.get("requests") { _, _ in
            let list = (try? JSONEncoder().encode(state.withStorage { $0.exchanges }))
                .flatMap { try? JSONDecoder().decode(JSONValue.self, from: $0) } ?? .array([])
            return Self.answer(200, list)
        }
        group.get("organizations") { _, _ in
            let list = state.withStorage { storage in storage.order.compactMap { storage.organizations[$0]?.organization } }
            return Self.answer(200, .array(list.map(OrganizationsController.encode)))
        }
        // Drift: change an organization behind certvault's back.
        group.post("organizations/:id/thumbprint") { _, context in
            let id = try context.parameters.require("id")
            guard let thumbprint = JSONValue.parse(context.body)?["thumbprint"]?.stringValue else {
                return Self.answer(400, .object(["error": .string("give {\"thumbprint\": \"40 hex digits\"}")]))
            }
            return state.replaceThumbprint(organizationId: id, with: thumbprint) ? Self.answer(200, .object(["ok": .bool(true)]))
                : Self.answer(404, .object(["error": .string("unknown organization")]))
        }
        group.delete("organizations/:id") { _, context in
            state.deleteOrganization(id: try context.parameters.require("id")) ? Self.answer(200, .object(["ok": .bool(true)]))
                : Self.answer(404, .object(["error": .string("unknown organization")]))
        }
        group.get("device-codes") { _, _ in
            let codes = state.withStorage { storage in
                storage.deviceCodes.values.map { JSONValue.object(["userCode": .string($0.code), "signedIn": .bool($0.signedIn), "used": .bool($0.used)]) }
            }
            return Self.answer(200, .array(codes))
        }
    }

    /// A control answer: pretty-printed JSON.
    static func answer(_ status: Int, _ value: JSONValue) -> Response {
        VB365Answer.response(status: status, bytes: VB365Answer.encode(value, pretty: true))
    }

    private func signIn(_ context: SimulatorRequestContext) -> Response {
        guard let code = JSONValue.parse(context.body)?["userCode"]?.stringValue else {
            return Self.answer(400, .object(["error": .string("give {\"userCode\": ...}")]))
        }
        return state.signIn(userCode: code) ? Self.answer(200, .object(["signedIn": .bool(true)]))
            : Self.answer(404, .object(["error": .string("unknown user code")]))
    }

    private func faults(_ context: SimulatorRequestContext) -> Response {
        let body = JSONValue.parse(context.body)
        guard let endpoint = body?["endpoint"]?.stringValue else {
            return Self.answer(400, .object(["error": .string(
                "give {\"endpoint\": \"POST Organizations\", \"status\": 500 | \"action\": \"drop\"|\"truncate\"|\"malformed\", \"count\": 1} or {\"endpoint\":..., \"delay\": seconds}")]))
        }
        var count = 1
        if case .number(let value)? = body?["count"] { count = Int(value) }
        let pages = body?["count"] == nil ? Int.max : count
        func plan(_ kind: Fault.Kind, _ times: Int = count) { state.addFault(endpoint, Fault(kind: kind, remaining: times)) }
        if case .number(let seconds)? = body?["delay"] {
            state.setDelay(endpoint, seconds: seconds)
        } else if case .number(let status)? = body?["status"] {
            plan(.status(Int(status)))
        } else if case .object(let respond)? = body?["respond"] {
            var status = 200
            if case .number(let value)? = respond["status"] { status = Int(value) }
            plan(.rawResponse(status, Array((respond["body"]?.stringValue ?? "").utf8)))
        } else {
            switch body?["action"]?.stringValue {
            case "echo": plan(.echoRequest(400))
            // Endless pages are always for GET Organizations, and go on until stopped unless a count is given.
            case "endless-pages": state.addFault("GET Organizations", Fault(kind: .endlessPages(repeating: false), remaining: pages))
            case "repeat-page": state.addFault("GET Organizations", Fault(kind: .endlessPages(repeating: true), remaining: pages))
            case "drop": plan(.dropAfterProcessing)
            case "truncate": plan(.truncateAfterProcessing)
            case "malformed": plan(.malformedResponse)
            default: return Self.answer(400, .object(["error": .string("unknown fault")]))
            }
        }
        return Self.answer(200, .object(["ok": .bool(true)]))
    }
}
