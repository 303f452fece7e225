/* Startup for the Cortex-M3 of mps2-an385: vector table, reset handler, fault handlers.
 *
 * The reset handler copies .data from flash, zeroes .bss, then either runs the newlib
 * world (unit tests: semihosting I/O, constructors, exit(main()) so the exit status
 * reaches the host) or calls the firmware's main directly (the app image links no C
 * library). Faults exit through semihosting with a distinct status, so a test that
 * crashes fails instead of hanging. The stack is an array in a NOLOAD section, which
 * arm-none-eabi-size counts with bss: RAM, as it must be for the 4 KiB budget. */
#include <stdint.h>

#ifndef FW_STACK_BYTES
#define FW_STACK_BYTES 1024
#endif

extern uint32_t __data_load, __data_start, __data_end, __bss_start, __bss_end;
int main(void);

/* In its own section after .bss: zeroing .bss must not wipe the stack it runs on. */
__attribute__((section(".stack"), aligned(8))) uint32_t fw_stack[FW_STACK_BYTES / 4];

/* Semihosting: r0 = operation, r1 = parameter, through BKPT 0xAB. */
static int semihost(int op, const void *arg)
{
    register int r0 __asm__("r0") = op;
    register const void *r1 __asm__("r1") = arg;
    __asm__ volatile("bkpt 0xab" : "+r"(r0) : "r"(r1) : "memory");
    return r0;
}

#define SYS_EXIT 0x18
#define ADP_STOPPED_APPLICATION_EXIT 0x20026
#define ADP_STOPPED_RUNTIME_ERROR 0x20023

/* Exit QEMU: status 0 for success; any other status becomes QEMU's exit 1. */
__attribute__((noreturn)) void fw_semihost_exit(int status)
{
    for (;;)
        semihost(SYS_EXIT, (const void *)(uintptr_t)(status == 0 ? ADP_STOPPED_APPLICATION_EXIT
                                                                 : ADP_STOPPED_RUNTIME_ERROR));
}

#ifdef FW_WITH_NEWLIB
#include <stdlib.h>
extern void initialise_monitor_handles(void);
extern void __libc_init_array(void);
#define FAULT_EXIT(code) exit(code)
/* crti/crtn are not linked (-nostartfiles): __libc_init_array calls these */
void _init(void);
void _fini(void);
void _init(void) {}
void _fini(void) {}
#else
#define FAULT_EXIT(code) fw_semihost_exit(code)
#endif

void Reset_Handler(void)
{
    uint32_t *src = &__data_load, *dst = &__data_start;
    while (dst < &__data_end)
        *dst++ = *src++;
    for (dst = &__bss_start; dst < &__bss_end; dst++)
        *dst = 0;
#ifdef FW_WITH_NEWLIB
    initialise_monitor_handles();
    __libc_init_array();
    exit(main());
#else
    fw_semihost_exit(main());
#endif
}

static void nmi(void) { FAULT_EXIT(120); }
static void hard_fault(void) { FAULT_EXIT(121); }
static void mem_fault(void) { FAULT_EXIT(122); }
static void bus_fault(void) { FAULT_EXIT(123); }
static void usage_fault(void) { FAULT_EXIT(124); }
static void unexpected(void) { FAULT_EXIT(125); }
void SysTick_Handler(void) __attribute__((weak, alias("unexpected_irq")));
void unexpected_irq(void) { FAULT_EXIT(126); }

typedef void (*vector)(void);
__attribute__((section(".vectors"), used)) const vector fw_vectors[16] = {
    (vector)(uintptr_t)(fw_stack + FW_STACK_BYTES / 4), /* initial stack pointer */
    Reset_Handler, nmi, hard_fault, mem_fault, bus_fault, usage_fault,
    unexpected, unexpected, unexpected, unexpected, /* reserved */
    unexpected, /* SVCall */
    unexpected, /* debug monitor */
    unexpected, /* reserved */
    unexpected, /* PendSV */
    SysTick_Handler,
};
