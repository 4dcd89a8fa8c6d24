import Commands

await Entry.main()
