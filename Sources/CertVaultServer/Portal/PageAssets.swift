public import CertVaultConfiguration
import Foundation
public import Hummingbird
import NIOCore

/// A file served under `/assets/`: its bytes, type and a version (a hash of the bytes) that pages
/// put in the URL (`/assets/portal.css?v=VERSION`), so that it can be cached for a year and a new
/// build's file is fetched at once.
public struct PageAsset: Sendable {
    public let name: String
    public let contentType: String
    public let bytes: ByteBuffer
    /// 16 hex digits of the bytes' FNV-1a 64 hash: a cache key, not a security measure.
    public let version: String
    /// Seconds a browser may keep it without asking.
    public let maxAge: Int

    public init(name: String, contentType: String, bytes: [UInt8], maxAge: Int = 31_536_000) {
        self.name = name
        self.contentType = contentType
        self.bytes = ByteBuffer(bytes: bytes)
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in bytes { hash = (hash ^ UInt64(byte)) &* 0x100_0000_01b3 }
        self.version = String(hash, radix: 16).leftPadded(to: 16)
        self.maxAge = maxAge
    }

    /// The URL pages use.
    public var url: String { "/assets/\(name)?v=\(version)" }

    /// The asset, or `304 Not Modified` when the request's `If-None-Match` names this version.
    func response(to request: Request) -> Response {
        var headers = HTTPFields()
        let etag = "\"\(version)\""
        headers[.eTag] = etag
        SecurityHeaders.apply(to: &headers, cacheControl: "public, max-age=\(maxAge), immutable")
        if let match = request.headers[.ifNoneMatch], match.split(separator: ",").contains(where: {
            $0.trimmingCharacters(in: .whitespaces) == etag || $0.trimmingCharacters(in: .whitespaces) == "*"
        }) {
            return Response(status: .notModified, headers: headers)
        }
        headers[.contentType] = contentType
        return Response(status: .ok, headers: headers, body: .init(byteBuffer: bytes))
    }
}

/// The assets compiled into the binary (Package.swift: `embedInCode("Portal/Resources")`).
public enum PageAssets {
    /// Every embedded asset by the name in its URL. The dashboard's stylesheet and script join here.
    public static let embedded: [String: PageAsset] = {
        var assets: [String: PageAsset] = [:]
        for asset in [
            PageAsset(name: "portal.css", contentType: "text/css; charset=utf-8", bytes: PackageResources.portal_css),
            PageAsset(name: "portal.js", contentType: "text/javascript; charset=utf-8", bytes: PackageResources.portal_js),
        ] {
            assets[asset.name] = asset
        }
        return assets
    }()

    /// The provider's logo from `[portal] provider_logo` (`/assets/logo`), read once at start.
    ///
    /// - Throws: when the file cannot be read (the configuration names a file that is not there).
    public static func logo(settings: ServiceConfiguration.PortalSettings) throws -> PageAsset? {
        guard let path = settings.providerLogo else { return nil }
        guard let data = FileManager.default.contents(atPath: path) else {
            throw PageAssetError(path: path)
        }
        let type = path.lowercased().hasSuffix(".svg") ? "image/svg+xml" : "image/png"
        return PageAsset(name: "logo", contentType: type, bytes: [UInt8](data), maxAge: 3600)
    }
}

/// The logo named by `[portal] provider_logo` could not be read.
public struct PageAssetError: Error, CustomStringConvertible {
    public let path: String
    public var description: String {
        "The provider logo '\(path)' ([portal] provider_logo) cannot be read. "
            + "Hint: give the path of a readable PNG or SVG file, or remove provider_logo."
    }
}

extension String {
    fileprivate func leftPadded(to length: Int) -> String {
        count >= length ? self : String(repeating: "0", count: length - count) + self
    }
}
