using System.Runtime.InteropServices;
using Weft.Linux.Native;

namespace Weft.Linux;

public sealed partial class Netlink
{
    private const nuint TUNSETIFF = 0x400454ca;
    private const nuint TUNSETPERSIST = 0x400454cb;
    private const short IFF_TUN = 0x0001;
    private const short IFF_TAP = 0x0002;
    private const short IFF_NO_PI = 0x1000;

    /// <summary>
    /// Creates a persistent TUN (or TAP) device in this handle's namespace: /dev/net/tun is opened on a
    /// thread inside the namespace (the device is created in the namespace of the opener), then
    /// TUNSETIFF and TUNSETPERSIST. The device stays after the fd is closed; delete it with <see cref="LinkDel(string)"/>.
    /// </summary>
    /// <remarks>Equivalent to: ip tuntap add dev NAME mode tun (mode tap when <paramref name="tap"/>)</remarks>
    public void LinkAddTun(string name, bool tap = false)
    {
        if (string.IsNullOrEmpty(name) || name.Length > 15) throw new ArgumentException($"invalid interface name '{name}'", nameof(name));
        string op = $"ip tuntap add dev {name} mode {(tap ? "tap" : "tun")}";
        // TUNSETIFF attaches to an existing persistent device of the same name instead of failing.
        if (TryLinkByName(name) is not null) throw new NetlinkException(Errno.EEXIST, op);
        void Create()
        {
            int fd = Libc.open("/dev/net/tun", Libc.O_RDWR | Libc.O_CLOEXEC, 0);
            if (fd < 0) throw KernelException.FromLastError(op + ": open /dev/net/tun");
            try
            {
                unsafe
                {
                    byte* ifr = stackalloc byte[40];
                    new Span<byte>(ifr, 40).Clear();
                    System.Text.Encoding.ASCII.GetBytes(name, new Span<byte>(ifr, 15));
                    *(short*)(ifr + 16) = (short)((tap ? IFF_TAP : IFF_TUN) | IFF_NO_PI);
                    if (Libc.ioctl(fd, TUNSETIFF, ifr) != 0) throw KernelException.FromLastError(op + ": TUNSETIFF");
                    if (Libc.ioctl(fd, TUNSETPERSIST, (nint)1) != 0) throw KernelException.FromLastError(op + ": TUNSETPERSIST");
                }
            }
            finally
            {
                Libc.close(fd);
            }
        }
        if (Namespace is null) Create();
        else Namespace.Run(Create);
    }
}
