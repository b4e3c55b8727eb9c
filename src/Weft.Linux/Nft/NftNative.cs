using System.Runtime.InteropServices;

namespace Weft.Linux.Nft;

/// <summary>
/// P/Invoke declarations for libnftables (<c>libnftables.so.1</c>, nftables ≥ 1.0).
/// Names and constants keep their C names (<c>include/nftables/libnftables.h</c>).
/// </summary>
internal static partial class NftNative
{
    private const string Lib = "libnftables.so.1";

    /// <summary>nft_ctx_new flag: open the netlink socket (in the calling thread's network namespace).</summary>
    internal const uint NFT_CTX_DEFAULT = 0;

    internal const uint NFT_CTX_OUTPUT_HANDLE = 1u << 3;
    internal const uint NFT_CTX_OUTPUT_JSON = 1u << 4;
    internal const uint NFT_CTX_OUTPUT_NUMERIC_PROTO = 1u << 7;
    internal const uint NFT_CTX_OUTPUT_NUMERIC_PRIO = 1u << 8;
    internal const uint NFT_CTX_OUTPUT_STATELESS = 1u << 2;
    internal const uint NFT_CTX_OUTPUT_TERSE = 1u << 11;

    [LibraryImport(Lib)]
    internal static partial nint nft_ctx_new(uint flags);

    [LibraryImport(Lib)]
    internal static partial void nft_ctx_free(nint ctx);

    [LibraryImport(Lib)]
    internal static partial int nft_ctx_buffer_output(NftContextHandle ctx);

    [LibraryImport(Lib)]
    internal static partial int nft_ctx_buffer_error(NftContextHandle ctx);

    /// <summary>Returns the buffered output and rewinds the buffer (owned by the context).</summary>
    [LibraryImport(Lib)]
    internal static partial nint nft_ctx_get_output_buffer(NftContextHandle ctx);

    /// <summary>Returns the buffered error text and rewinds the buffer (owned by the context).</summary>
    [LibraryImport(Lib)]
    internal static partial nint nft_ctx_get_error_buffer(NftContextHandle ctx);

    [LibraryImport(Lib)]
    internal static partial uint nft_ctx_output_get_flags(NftContextHandle ctx);

    [LibraryImport(Lib)]
    internal static partial void nft_ctx_output_set_flags(NftContextHandle ctx, uint flags);

    [LibraryImport(Lib)]
    internal static partial void nft_ctx_set_dry_run(NftContextHandle ctx, [MarshalAs(UnmanagedType.U1)] bool dry);

    [LibraryImport(Lib)]
    internal static partial void nft_ctx_clear_include_paths(NftContextHandle ctx);

    /// <summary>
    /// Parses, evaluates and sends a whole buffer as one netlink batch (one transaction).
    /// Returns 0 on success. On a kernel rejection errno holds the kernel's error.
    /// </summary>
    [LibraryImport(Lib, StringMarshalling = StringMarshalling.Utf8, SetLastError = true)]
    internal static partial int nft_run_cmd_from_buffer(NftContextHandle ctx, string buf);

    /// <summary>
    /// Like <see cref="nft_run_cmd_from_buffer"/> but reads a file. Used for multi-line scripts
    /// (through a memfd): nft 1.0.x reports error locations of buffers without their line number,
    /// and of files with it.
    /// </summary>
    [LibraryImport(Lib, StringMarshalling = StringMarshalling.Utf8, SetLastError = true)]
    internal static partial int nft_run_cmd_from_filename(NftContextHandle ctx, string filename);

    internal const uint MFD_CLOEXEC = 1;

    [LibraryImport("libc", StringMarshalling = StringMarshalling.Utf8, SetLastError = true)]
    internal static partial int memfd_create(string name, uint flags);
}

/// <summary>Owns an <c>nft_ctx*</c>; frees it (and its netlink socket) with <c>nft_ctx_free</c>.</summary>
internal sealed class NftContextHandle : SafeHandle
{
    public NftContextHandle() : base(nint.Zero, ownsHandle: true) { }

    internal NftContextHandle(nint ctx) : base(nint.Zero, ownsHandle: true) => SetHandle(ctx);

    public override bool IsInvalid => handle == nint.Zero;

    protected override bool ReleaseHandle()
    {
        NftNative.nft_ctx_free(handle);
        return true;
    }
}
