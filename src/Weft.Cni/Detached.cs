using System.Runtime.InteropServices;

namespace Weft.Cni;

/// <summary>
/// Starts a process the plugin does not wait for: posix_spawn with stdin/stdout/stderr on /dev/null (so the
/// runtime, which reads the plugin's stdout to EOF, never waits for it) in a new session. It inherits the
/// plugin's network namespace.
/// </summary>
public static unsafe partial class Detached
{
    private const int POSIX_SPAWN_SETSID = 0x80;

    /// <summary>Starts <paramref name="path"/> with only <paramref name="environment"/> ("K=V"); false if it could not.</summary>
    public static bool Spawn(string path, IReadOnlyList<string> environment)
    {
        // glibc: posix_spawn_file_actions_t is 80 bytes, posix_spawnattr_t 336; generous buffers.
        var fa = stackalloc byte[256];
        var attr = stackalloc byte[512];
        if (posix_spawn_file_actions_init(fa) != 0)
        {
            return false;
        }

        var allocated = new List<nint>();
        try
        {
            if (posix_spawnattr_init(attr) != 0)
            {
                return false;
            }

            try
            {
                posix_spawnattr_setflags(attr, POSIX_SPAWN_SETSID);
                posix_spawn_file_actions_addopen(fa, 0, "/dev/null", Native.O_RDONLY, 0);
                posix_spawn_file_actions_addopen(fa, 1, "/dev/null", 1 /* O_WRONLY */, 0);
                posix_spawn_file_actions_addopen(fa, 2, "/dev/null", 1 /* O_WRONLY */, 0);

                nint Str(string s)
                {
                    var p = Marshal.StringToCoTaskMemUTF8(s);
                    allocated.Add(p);
                    return p;
                }

                var argv = stackalloc nint[2];
                argv[0] = Str(path);
                argv[1] = 0;
                var envp = stackalloc nint[environment.Count + 1];
                for (var i = 0; i < environment.Count; i++)
                {
                    envp[i] = Str(environment[i]);
                }

                envp[environment.Count] = 0;
                int pid;
                return posix_spawn(&pid, argv[0], fa, attr, argv, envp) == 0;
            }
            finally
            {
                posix_spawnattr_destroy(attr);
            }
        }
        finally
        {
            posix_spawn_file_actions_destroy(fa);
            foreach (var p in allocated)
            {
                Marshal.FreeCoTaskMem(p);
            }
        }
    }

    [LibraryImport("libc")]
    private static partial int posix_spawn(int* pid, nint path, byte* fileActions, byte* attr, nint* argv, nint* envp);

    [LibraryImport("libc")]
    private static partial int posix_spawn_file_actions_init(byte* fa);

    [LibraryImport("libc")]
    private static partial int posix_spawn_file_actions_destroy(byte* fa);

    [LibraryImport("libc", StringMarshalling = StringMarshalling.Utf8)]
    private static partial int posix_spawn_file_actions_addopen(byte* fa, int fd, string path, int flags, int mode);

    [LibraryImport("libc")]
    private static partial int posix_spawnattr_init(byte* attr);

    [LibraryImport("libc")]
    private static partial int posix_spawnattr_destroy(byte* attr);

    [LibraryImport("libc")]
    private static partial int posix_spawnattr_setflags(byte* attr, short flags);
}
