; Inno Setup 6 script: izer-setup-<version>.exe from the PyInstaller one-folder build.
;
;   python installer\build.py                       (makes build\installer\pyinstaller\dist\izer)
;   iscc installer\windows\izer.iss                 (makes build\installer\izer-setup-0.1.0.exe)
;
; Override the defines on the command line when needed, e.g.
;   iscc /DAppVersion=0.2.0 /DSourceDir=C:\out\pyinstaller\dist\izer /DOutputDir=C:\out izer.iss
;
; Programs go to Program Files (or, when the user picks "only for me", to the per-user
; Programs folder). izer keeps its settings, study store and logs per user in
; %LOCALAPPDATA%\izer (platformdirs); the uninstaller leaves them there: the store may hold
; images not sent yet.

#ifndef AppVersion
  #define AppVersion "0.1.0"
#endif
#ifndef SourceDir
  #define SourceDir "..\..\build\installer\pyinstaller\dist\izer"
#endif
#ifndef OutputDir
  #define OutputDir "..\..\build\installer"
#endif
#define AppName "izer"
#define AppPublisher "izer project"
#define GuiExe "izer-gui.exe"

[Setup]
; AppId identifies the product for upgrades and uninstall: never change it.
AppId={{6F0C2E5B-8E4A-4C1D-9B7E-2A5D3C9E1F47}
AppName={#AppName}
AppVersion={#AppVersion}
AppVerName={#AppName} {#AppVersion}
AppPublisher={#AppPublisher}
DefaultDirName={autopf}\{#AppName}
DefaultGroupName={#AppName}
DisableProgramGroupPage=yes
PrivilegesRequired=admin
PrivilegesRequiredOverridesAllowed=dialog
ArchitecturesAllowed=x64compatible
ArchitecturesInstallIn64BitMode=x64compatible
OutputDir={#OutputDir}
OutputBaseFilename=izer-setup-{#AppVersion}
Compression=lzma2/fast
SolidCompression=yes
WizardStyle=modern
UninstallDisplayIcon={app}\{#GuiExe}
UninstallDisplayName={#AppName} {#AppVersion}
VersionInfoVersion={#AppVersion}
VersionInfoProductName={#AppName}
VersionInfoDescription=izer DICOMizer workstation setup

[Languages]
Name: "english"; MessagesFile: "compiler:Default.isl"

[Tasks]
Name: "desktopicon"; Description: "{cm:CreateDesktopIcon}"; GroupDescription: "{cm:AdditionalIcons}"; Flags: unchecked

[Files]
Source: "{#SourceDir}\*"; DestDir: "{app}"; Flags: ignoreversion recursesubdirs createallsubdirs

[Icons]
Name: "{group}\{#AppName}"; Filename: "{app}\{#GuiExe}"; Parameters: "gui"; WorkingDir: "{app}"
Name: "{group}\{#AppName} command prompt"; Filename: "{cmd}"; Parameters: "/k ""cd /d ""{app}"" && izer --help"""; WorkingDir: "{app}"
Name: "{group}\{cm:UninstallProgram,{#AppName}}"; Filename: "{uninstallexe}"
Name: "{autodesktop}\{#AppName}"; Filename: "{app}\{#GuiExe}"; Parameters: "gui"; WorkingDir: "{app}"; Tasks: desktopicon

[Run]
Filename: "{app}\{#GuiExe}"; Parameters: "gui"; Description: "{cm:LaunchProgram,{#AppName}}"; Flags: nowait postinstall skipifsilent

