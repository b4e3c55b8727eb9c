using System.Runtime.InteropServices;

namespace Weft.Cni;

/// <summary>
/// Starts a process the plugin does not wait for, in a new session, with stdin/stdout/stderr on /dev/null
/// (so the runtime, which reads the plugin's stdout to EOF, never waits for it). It inherits the plugin's
/// network namespace.
/// <para>
/// It forks and execs rather than using posix_spawn: posix_spawn (vfork) suspends the caller until the child has
/// exec'd, which on a loaded machine means waiting for the scheduler twice. Everything the child needs is
/// prepared in unmanaged memory before the fork, and the child only calls setsid, open, dup2, execve and _exit.
/// </para>
/// </summary>
public static unsafe partial class Detached
{
    /// <summary>Starts <paramref name="path"/> with only <paramref name="environment"/> ("K=V"); false if it could not.</summary>
    public static bool Spawn(string path, IReadOnlyList<string> environment)
    {
        var strings = new List<nint>();
        nint Str(string s)
        {
            var p = Marshal.StringToCoTaskMemUTF8(s);
            strings.Add(p);
            return p;
        }

        nint* argv = null;
        nint* envp = null;

        try
        {
            var file = Str(path);
            var devNull = Str("/dev/null");
            argv = (nint*)NativeMemory.Alloc(2, (nuint)sizeof(nint));
            argv[0] = file;
            argv[1] = 0;
            envp = (nint*)NativeMemory.Alloc((nuint)(environment.Count + 1), (nuint)sizeof(nint));
            for (var i = 0; i < environment.Count; i++)
            {
                envp[i] = Str(environment[i]);
            }

            envp[environment.Count] = 0;

            var pid = fork();
            if (pid == 0)
            {
                // The child: only async-signal-safe calls until execve.
                setsid();
                var fd = open(devNull, Native.O_RDWR);
                if (fd >= 0)
                {
                    dup2(fd, 0);
                    dup2(fd, 1);
                    dup2(fd, 2);
                }

                execve(file, argv, envp);
                _exit(127);
            }

            return pid > 0;
        }
        finally
        {
            NativeMemory.Free(argv);
            NativeMemory.Free(envp);
            foreach (var p in strings)
            {
                Marshal.FreeCoTaskMem(p);
            }
        }
    }

    [LibraryImport("libc")]
    private static partial int fork();

    [LibraryImport("libc")]
    private static partial int setsid();

    [LibraryImport("libc")]
    private static partial int open(nint path, int flags);

    [LibraryImport("libc")]
    private static partial int dup2(int from, int to);

    [LibraryImport("libc")]
    private static partial int execve(nint path, nint* argv, nint* envp);

    [LibraryImport("libc")]
    private static partial void _exit(int status);
}
